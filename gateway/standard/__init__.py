"""The iWmo and iJw 3.2 standards: message types, schemas, the typed model and the rules."""
