"""``billing-agent bench``: the agent measured against the bare LangGraph floor, in one run.

Three sides run in interleaved rounds so machine noise hits all alike:

* *floor* (:mod:`bench.floor`): four no-op nodes, the same checkpointer, durability and message window;
* *in-process*: full turns of :class:`agent.service.BillingAgent` built exactly as the service builds it;
* *HTTP*: the same conversation mix through a running service (a subprocess), SSE, from a separate client
  process (:mod:`bench.client`) with C concurrent conversations.

``growth`` drives one thread to 200 turns; ``idle`` adds 10,000 idle threads between two measurements.
"""
