"""What the screens show, computed without textual: runs selections, a run's detail and
proof, pages of events, verification and trends. Plain data in, plain data out, so it
is tested and benchmarked without a terminal."""
