"""The CSI node plugin: Identity and Node services, provider client, atomic writer, sync, rotation."""
