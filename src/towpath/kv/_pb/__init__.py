"""The KV service's protobuf messages (kv.proto, compiled by protoc and committed)."""
