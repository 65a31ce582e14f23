"""Generated protobuf modules (all). Do not edit: run scripts/genproto.py."""
