"""Fleet collection (docs/fleet.md): organisation keys, segments re-sealed for upload, the device client."""
