"""`workroom`: the command line of the Workroom API (requests + argparse, no Django)."""
