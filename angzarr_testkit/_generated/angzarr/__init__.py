"""Generated protobuf modules (proto package angzarr). Do not edit: run scripts/genproto.py."""
