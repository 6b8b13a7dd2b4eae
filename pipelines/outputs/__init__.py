"""What a night gives out: exports, the province exchange, notifications, reports and the night's summary."""
