"""The ROS 2 bridge: ROS 2 robots join the fleet through standard messages (needs fleet[ros]).

- `fleet.ros.contract`: the interface for integrators, per robot namespace: topics, QoS,
  REP 105 frames, and conversions both ends share. JSON messages (the action channel,
  robot_info, command_sync) are checked against the schemas in `fleet/ros/schemas/`.
- `fleet.ros.bridge`: `RosBridge`, one rclpy node for every robot, relaying them to the
  coordinator over gRPC RobotLink exactly like gRPC robots.
- `fleet.ros.node`: one rclpy node in a private context, spun by a background thread.

Importing this package does not import rclpy; its modules do.
"""

__all__: list[str] = []
