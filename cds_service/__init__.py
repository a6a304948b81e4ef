"""facet-cds: payer policy CP.MP.171 (Facet Joint Interventions) as a FHIR-native CDS Hooks service."""
