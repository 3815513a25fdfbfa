// Poller
