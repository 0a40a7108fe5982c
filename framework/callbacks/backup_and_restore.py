"""``BackupAndRestore``: back up the whole training state so that an interrupted ``fit``
resumes where it stopped."""
import os

from framework.callbacks.callback import REGISTRY, Callback
from framework.saving.archive import restore_checkpoint


@REGISTRY.register("BackupAndRestore")
class BackupAndRestore(Callback):
    """Back up the whole training state so an interrupted ``fit`` resumes where it stopped.

    At the start of ``fit`` a backup in ``backup_dir`` is restored (weights, optimizer state,
    random generators, epochs done) and training continues at the next epoch, giving the
    same result as an uninterrupted run. The backup is deleted when ``fit`` completes. Each
    backup replaces the previous one atomically, so a kill at any moment leaves a whole
    backup. A program that writes its own final file after ``fit`` (``framework train``
    writes ``model.fw``) passes ``delete_checkpoint=False`` and calls ``delete_backup()``
    once that file is written, so no moment exists with neither file on disk.

    Args:
        backup_dir: folder for the backup file.
        save_freq: ``"epoch"`` or a number of batches between backups (a mid-epoch backup
            resumes at the start of that epoch).
        delete_checkpoint: delete the backup when training finishes.
    """

    FILENAME = "backup.fw"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError("BackupAndRestore: save_freq must be 'epoch' or a positive integer, "
                             f"received {save_freq!r}")
        self.backup_dir, self.save_freq, self.delete_checkpoint = os.fspath(backup_dir), save_freq, delete_checkpoint
        self._batches = 0

    @property
    def path(self):
        return os.path.join(self.backup_dir, self.FILENAME)

    def get_config(self):
        return {"backup_dir": self.backup_dir, "save_freq": self.save_freq,
                "delete_checkpoint": self.delete_checkpoint}

    def on_train_begin(self, logs=None):
        if os.path.exists(self.path):
            restore_checkpoint(self.model, self.path)
            self.model.resume_from_epoch(self.model.epochs_done)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self.model.save(self.path)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self.model.save(self.path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:  # an interrupted fit never gets here
            self.delete_backup()

    def delete_backup(self):
        """Remove the backup file (nothing happens when there is none)."""
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
