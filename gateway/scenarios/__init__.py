"""Scenarios: whole chains played end to end through RabbitMQ on the virtual clock."""
