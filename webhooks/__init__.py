"""Events and webhooks: subscriptions, an event outbox written with each change, signed deliveries."""
