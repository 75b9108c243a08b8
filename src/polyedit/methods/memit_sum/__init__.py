"""memit-sum: MEMIT updates computed one edit at a time on the unedited model and summed (a control)."""

from polyedit.methods.memit_sum.memit_sum_main import MEMITSum, MEMITSumHParams

__all__ = ["MEMITSum", "MEMITSumHParams"]
