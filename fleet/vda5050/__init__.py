"""VDA 5050: industrial AGVs join the fleet over MQTT (needs fleet[vda5050]).

- `fleet.vda5050.contract`: the standard as fleet uses it: topics, QoS, the official JSON
  schemas (`schemas/v2.1`, `schemas/v3.0`, the version is a parameter), and the pure
  translation between RobotLink commands and orders / instant actions, and between the
  vehicle's state and RobotState.
- `fleet.vda5050.master`: `Vda5050Master`, the master control: one MQTT connection for
  every vehicle, one batched coordinator link (`fleet.gateway.Gateway`) for all of them.

Importing this package imports neither paho-mqtt nor jsonschema; its modules do.
"""

__all__: list[str] = []
