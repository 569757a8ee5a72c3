"""The event payloads the services exchange: the platform's published contract.

Rules: additive changes only within a major version; ids and facts, never names, gender, e-mail
or free text on the public stream (curriculum titles are catalogue content, not personal data).
One module per publishing service; everything is re-exported here.
"""

from wps_common.events.contracts.certification import (
    CertificateExpired,
    CertificateExpiring,
    CertificateIssued,
    CertificateRevoked,
)
from wps_common.events.contracts.common import Localised, Selector
from wps_common.events.contracts.curriculum import (
    ClearanceItem,
    ClearanceProfileChanged,
    ModuleFacts,
    ModulePublished,
    ModuleRetired,
    RequirementChanged,
    TrackFacts,
    TrackPublished,
    TrackRetired,
)
from wps_common.events.contracts.enrolment import (
    ComplianceChanged,
    ComplianceCount,
    ComplianceStatus,
    ComplianceSummarised,
    EnrolmentFailed,
    EnrolmentWithdrawn,
    ModuleCompleted,
    TrackCompleted,
    TraineeEnrolled,
    TraineeProfileChanged,
)
from wps_common.events.contracts.platform import DeadLetterRecorded

__all__ = [
    "CertificateExpired",
    "CertificateExpiring",
    "CertificateIssued",
    "CertificateRevoked",
    "ClearanceItem",
    "ClearanceProfileChanged",
    "ComplianceChanged",
    "ComplianceCount",
    "ComplianceStatus",
    "ComplianceSummarised",
    "DeadLetterRecorded",
    "EnrolmentFailed",
    "EnrolmentWithdrawn",
    "Localised",
    "ModuleCompleted",
    "ModuleFacts",
    "ModulePublished",
    "ModuleRetired",
    "RequirementChanged",
    "Selector",
    "TraineeEnrolled",
    "TraineeProfileChanged",
    "TrackCompleted",
    "TrackFacts",
    "TrackPublished",
    "TrackRetired",
]
