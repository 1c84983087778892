from __future__ import annotations

import pytest

pytest.importorskip("ipv8", reason="real networking needs the 'network' extra (pyipv8)")
