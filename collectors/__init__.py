"""cnetwin collectors: MQTT ingest of telemetry into the twin's store."""
