"""The attention service's routers (all under ``/v1``)."""
