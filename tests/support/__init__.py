"""What tests of several packages share: the worlds they build, trees, live-HTTP and spec helpers."""
