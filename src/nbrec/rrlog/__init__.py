"""RR logs, one owner: the schema (``schema``), the non-blocking writer the service uses
(``writer.RRLogger``) and the readers (``reader``) of experiment analysis and the product
report. Import the submodules directly; this package imports nothing heavy."""
