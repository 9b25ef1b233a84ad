"""qml-bench: circuit-simulation throughput of qml, TFQ, qsimcirq and their peers."""
