import sys
from pathlib import Path

# tests/naive.py holds the slow, obviously-correct references
sys.path.insert(0, str(Path(__file__).parent))
