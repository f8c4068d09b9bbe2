"""Building blocks shared by several method families (no method is registered here)."""
