"""The core event record: what contacts did (joined, left, joined a group, replied, …) and the hook that tells plugins."""
