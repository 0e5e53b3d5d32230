"""Why a job ended, in the words its reply shows."""

from __future__ import annotations

from typing import Final

TIMED_OUT_QUEUED: Final = "Timed out waiting in the image service's queue."
TIMED_OUT_RUNNING: Final = "Timed out while the image was being made."
INTERRUPTED: Final = (
    "The bot restarted before the image service confirmed this job; it was not resent, "
    "to avoid a double charge. Please try again."
)
SYNC_INTERRUPTED: Final = (
    "The bot restarted while this image was being made. This image service answers only "
    "once, so the job could not be resumed, and it was not resent, to avoid a double "
    "charge. Please try again."
)
PROVIDER_GONE: Final = "The image service this job used is no longer configured on this bot."
SYNC_UNEXPECTED: Final = "The image service call failed unexpectedly. Please try again."
SUBMIT_UNEXPECTED: Final = "Sending the job to the image service failed unexpectedly."
UNREADABLE: Final = "The image service's answers about this job could not be read."
NOT_ACKNOWLEDGED: Final = "Discord did not accept the bot's answer in time; nothing was sent."
FAILED_REMOTELY: Final = (
    "The image service could not make this image. Please try again, or change the prompt.")
CANCELLED: Final = "Cancelled."
CANCELLED_REMOTELY: Final = "Cancelled at the image service."
NO_IMAGE: Final = "The image service made no image."
