"""MongoDB storage shared by the services: client, codecs and the unit of work."""
