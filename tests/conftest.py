import sys
from pathlib import Path

import numba
import pytest

# tests/naive.py holds the slow, obviously-correct references
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Run the test on one and on two Numba threads (as many as the machine allows)."""
    before = numba.get_num_threads()
    numba.set_num_threads(min(request.param, numba.config.NUMBA_NUM_THREADS))
    yield request.param
    numba.set_num_threads(before)
