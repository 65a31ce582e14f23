"""An order-fulfilment project written with the angzarr-client SDK (the kit's example)."""
