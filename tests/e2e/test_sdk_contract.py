"""What the pinned retell-sdk (infra/local/requirements.txt) says Retell sends, against what the
code handles. Fails when a new SDK knows a value the code does not classify, so an upgrade of the
SDK shows exactly what to add. No stack: the SDK's types and the code's own tables only."""

import json
import typing
from pathlib import Path

from retell.types.call_list_response import ItemV3PhoneCallResponse, ItemV3WebCallResponse
from retell.types.concurrency_retrieve_response import ConcurrencyRetrieveResponse
from retell.types.phone_call_response import PhoneCallResponse
from retell.types.web_call_response import WebCallResponse

ROOT = Path(__file__).resolve().parents[2]
CALL_TYPES = (PhoneCallResponse, WebCallResponse, ItemV3PhoneCallResponse, ItemV3WebCallResponse)


def literals(tp) -> set:
    """Every Literal value inside an annotation (Optional[...] and unions included)."""
    if typing.get_origin(tp) is typing.Literal:
        return set(typing.get_args(tp))
    return set().union(*map(literals, typing.get_args(tp))) if typing.get_args(tp) else set()


def test_every_disconnection_reason_the_sdk_knows_is_classified():
    table = json.loads((ROOT / "shared/src/calls/disconnection_reasons.json").read_text())
    ours = [r for c in ("completed", "not_connected", "failed") for r in table[c]]
    assert len(ours) == len(set(ours)), "a reason in two classes"
    assert not set(ours) & set(table["not_in_sdk"]), "a reason both in the SDK lists and not_in_sdk"
    for model in CALL_TYPES:
        sdk = literals(model.model_fields["disconnection_reason"].annotation)
        assert sdk, f"{model.__name__}: the SDK lists no reasons any more"
        assert not sdk - set(ours), f"{model.__name__}: classify {sorted(sdk - set(ours))}"
        assert not set(ours) - sdk, f"no longer in the SDK, move to not_in_sdk: {sorted(set(ours) - sdk)}"


def test_the_call_statuses_are_the_ones_the_pipeline_orders():
    record = (ROOT / "shared/src/calls/record.rs").read_text()
    for model in CALL_TYPES:
        for status in literals(model.model_fields["call_status"].annotation):
            assert f'"{status}"' in record, f"{model.__name__}: call_status {status!r} is not ordered in record.rs"


def test_health_reads_the_concurrency_fields_the_sdk_answers():
    types = (ROOT / "shared/src/retell/api/types.rs").read_text()
    for field in ("current_concurrency", "concurrency_limit", "concurrency_burst_enabled",
                  "concurrency_burst_limit", "reserved_inbound_concurrency"):
        assert field in ConcurrencyRetrieveResponse.model_fields, f"the SDK dropped {field}"
        assert f"pub {field}:" in types, f"Concurrency does not read {field}"


def test_the_simulator_reads_every_knowledge_base_form_field_the_sdk_sends():
    """create-knowledge-base / add-knowledge-base-sources are forms: a field the simulator does not
    read would be ignored silently, so a new one in the SDK must be added to retell_sim."""
    from retell.types import knowledge_base_add_sources_params, knowledge_base_create_params
    from retell.types.voice_response import VoiceResponse
    from retell_sim import knowledge_base  # conftest puts infra/local on the path

    for params, read in ((knowledge_base_create_params.KnowledgeBaseCreateParams, knowledge_base.CREATE_FIELDS),
                         (knowledge_base_add_sources_params.KnowledgeBaseAddSourcesParams, knowledge_base.ADD_FIELDS)):
        sdk = set(typing.get_type_hints(params)) - {"knowledge_base_files"}
        assert sdk == set(read), f"{params.__name__}: the simulator reads {sorted(read)}, the SDK sends {sorted(sdk)}"
    assert "knowledge_base_files" in knowledge_base.FILE_FIELDS
    assert "preview_audio_url" in VoiceResponse.model_fields, "the SDK dropped preview_audio_url"
