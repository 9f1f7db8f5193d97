"""The survey domain: instrument, roles, participants, rounds, invitations, answers.

Nothing here imports Slack, Teams or pandas; persistence lives in ``surveys.persistence``.
"""
