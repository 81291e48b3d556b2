"""Alerting on stored series: rules (:mod:`~twin.alerts.rules`), the state machine
(:mod:`~twin.alerts.engine`), metric reading (:mod:`~twin.alerts.metrics`), notifiers
(:mod:`~twin.alerts.notify`), silences (:mod:`~twin.alerts.silences`), persistence
(:mod:`~twin.alerts.state`) and one evaluation of them all (:mod:`~twin.alerts.evaluate`).

The shipped rules are ``twin/data/alert_rules.toml``; the scheduler evaluates them every
minute, and ``cnetwin alerts`` checks, lists and silences from the command line.
"""
