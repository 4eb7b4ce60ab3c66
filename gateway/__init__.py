"""A local stand-in for the iWmo/iJw message chain.

The package follows the way of one message: ``participants`` and ``identity`` say who is talking,
``standard`` reads and checks the message, ``routing`` hands it to RabbitMQ, ``ledger`` remembers
it and what it obliges, ``deadlines`` says by when, ``handlers`` play the other side, and
``http``/``cli`` are the doors.
"""

__version__ = "0.1.0"
