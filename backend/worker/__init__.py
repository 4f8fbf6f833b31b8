"""Workers: run jobs from the RQ queues on any machine with Redis and the web server's address."""
