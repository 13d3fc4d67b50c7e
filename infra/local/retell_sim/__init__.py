"""A local stand-in for Retell AI's cloud: its REST API, and calls played against our backend.

What it serves, how calls are played and the /sim control endpoints: README.md in this folder.
Run it with `python -m retell_sim` (infra/local on PYTHONPATH); in-process:

    from retell_sim import RetellSimulator
    sim = RetellSimulator(api_key="key_test", port=0).start()   # sim.url, sim.stop()
"""

from .call_content import booking_date
from .server import RetellSimulator

__all__ = ["RetellSimulator", "booking_date"]
