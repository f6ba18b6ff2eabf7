"""Records: the hash-chained audit log, evidence files, mail, the campaign board and results workbook, and what an
instance's submissions are as one viewer may read them."""
