"""One module per screen: Runs, Run detail, Compare, Trend, Verify, Events, Help, and a Problem screen."""
