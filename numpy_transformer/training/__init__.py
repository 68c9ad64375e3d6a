"""The training layer every application shares: the run handler (run.py: run-directory checks,
resume, thread policy, backend, start-up line), the epoch loop, atomic files and checkpoints,
progress bars, BLAS thread control, curves, and the quiet import of the Keras twin. It imports the
maths and data/, never an application (apps/) or the command line (cli/)."""
