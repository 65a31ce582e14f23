"""Generated protobuf modules (proto package testkit_examples). Do not edit: run scripts/genproto.py."""
