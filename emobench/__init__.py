"""emobench: verified packs, versioned protocols and honest leaderboards for research on
true emotion vs. displayed expression."""

__version__ = "0.1.0"
