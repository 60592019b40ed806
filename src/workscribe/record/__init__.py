"""The recorder: wires the sources to the guard, the redaction stage and the spool; its control
socket, key hold, task marks and process helpers."""
