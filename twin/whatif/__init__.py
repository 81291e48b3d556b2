"""What-if simulator: workloads, placement policies, a discrete-event core and reports.

Modules: :mod:`~twin.whatif.engine` (event queue, arrivals, percentiles),
:mod:`~twin.whatif.policies` (node placement policies), :mod:`~twin.whatif.routing` (stateless
service routing: DNS, anycast and URL-PATH), :mod:`~twin.whatif.llm` (LLM inference on a fleet of
nodes, time to first token), :mod:`~twin.whatif.carbon_shift` (deferrable training shifted in
time and space), :mod:`~twin.whatif.storage` (site batteries beside a carbon-shift plan:
time-of-use tariff and dispatch), :mod:`~twin.whatif.fork` (fork from a stored time and compare
with what actually happened next), :mod:`~twin.whatif.scenario` (scenario files),
:mod:`~twin.whatif.presets` (the named scenarios) and :mod:`~twin.whatif.report` (JSON reports).
"""
