"""Bringing a practice's patients in from its EHR: format detection, the CSV and FHIR readers, and
import jobs (preview, dry run, resumable import). Every row ends in `patient_records.upsert`."""
