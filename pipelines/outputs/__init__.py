"""What a night hands on: exports, the province exchange, notifications, the monthly report."""
