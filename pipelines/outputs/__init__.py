"""What a night gives out: exports, the exchange, notifications, reports and the night's summary."""
