from angzarr_testkit._generated.angzarr import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SagaHandleRequest(_message.Message):
    __slots__ = ("source", "sync_mode", "cascade_error_mode", "destination_sequences")
    class DestinationSequencesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SYNC_MODE_FIELD_NUMBER: _ClassVar[int]
    CASCADE_ERROR_MODE_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    source: _types_pb2.EventBook
    sync_mode: _types_pb2.SyncMode
    cascade_error_mode: _types_pb2.CascadeErrorMode
    destination_sequences: _containers.ScalarMap[str, int]
    def __init__(self, source: _Optional[_Union[_types_pb2.EventBook, _Mapping]] = ..., sync_mode: _Optional[_Union[_types_pb2.SyncMode, str]] = ..., cascade_error_mode: _Optional[_Union[_types_pb2.CascadeErrorMode, str]] = ..., destination_sequences: _Optional[_Mapping[str, int]] = ...) -> None: ...

class SpeculateSagaRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: SagaHandleRequest
    def __init__(self, request: _Optional[_Union[SagaHandleRequest, _Mapping]] = ...) -> None: ...

class SagaResponse(_message.Message):
    __slots__ = ("commands", "events")
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[_types_pb2.CommandBook]
    events: _containers.RepeatedCompositeFieldContainer[_types_pb2.EventBook]
    def __init__(self, commands: _Optional[_Iterable[_Union[_types_pb2.CommandBook, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[_types_pb2.EventBook, _Mapping]]] = ...) -> None: ...

class SagaCompensationFailed(_message.Message):
    __slots__ = ("triggering_aggregate", "triggering_event_sequence", "saga_name", "rejection_reason", "compensation_failure_reason", "rejected_command", "occurred_at")
    TRIGGERING_AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    TRIGGERING_EVENT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SAGA_NAME_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COMMAND_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    triggering_aggregate: _types_pb2.Cover
    triggering_event_sequence: int
    saga_name: str
    rejection_reason: str
    compensation_failure_reason: str
    rejected_command: _types_pb2.CommandBook
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, triggering_aggregate: _Optional[_Union[_types_pb2.Cover, _Mapping]] = ..., triggering_event_sequence: _Optional[int] = ..., saga_name: _Optional[str] = ..., rejection_reason: _Optional[str] = ..., compensation_failure_reason: _Optional[str] = ..., rejected_command: _Optional[_Union[_types_pb2.CommandBook, _Mapping]] = ..., occurred_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
