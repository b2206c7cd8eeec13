"""Sceau native-messaging host: relays between the browser extension and the local agent."""
