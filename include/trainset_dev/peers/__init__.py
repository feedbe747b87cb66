"""The pipeline's peers on 127.0.0.1 for the demo, the tests and ``make up``: S3 (moto's server) and a Slack sink
(``localpeers``), an SMTP sink (``mailsink``), and the long-running peers process with its messages page
(``peerserver``, ``python -m trainset_dev dev peers``)."""
