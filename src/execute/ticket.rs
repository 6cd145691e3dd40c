//! What a call holds while it is sent: a run-wide in-flight slot and its model's concurrency
//! permit. A call that waits to retry (out a 429's `retry-after`, or a backoff) gives both back,
//! so other calls go meanwhile, and takes them again, in the same order as the drivers do, before
//! it retries.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::provider::BoxFuture;
use crate::provider::retry::Parking;

#[derive(Debug, Default)]
pub(super) struct Ticket {
    slot: Option<OwnedSemaphorePermit>,
    slots: Option<Arc<Semaphore>>,
    permit: Option<OwnedSemaphorePermit>,
    permits: Option<Arc<Semaphore>>,
}

impl Ticket {
    /// A graded call's ticket: the slot and the permit (if the call needs the model) its driver
    /// took before starting it.
    pub fn held(
        slots: &Arc<Semaphore>,
        slot: Option<OwnedSemaphorePermit>,
        permits: Option<&Arc<Semaphore>>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        Ticket {
            slot,
            slots: Some(Arc::clone(slots)),
            permit,
            permits: permits.map(Arc::clone),
        }
    }

    /// A check's call: its model's permit, taken now; the graded call it belongs to holds the
    /// slot.
    pub async fn permit_of(permits: &Arc<Semaphore>) -> Self {
        Ticket {
            permit: Arc::clone(permits).acquire_owned().await.ok(),
            permits: Some(Arc::clone(permits)),
            ..Ticket::default()
        }
    }

    /// Takes the model's permit, unless the ticket holds it: a graded call whose driver
    /// expected a replay (and took none) finds it must call the model after all.
    pub async fn take_permit(&mut self) {
        if let (None, Some(permits)) = (&self.permit, &self.permits) {
            self.permit = Arc::clone(permits).acquire_owned().await.ok();
        }
    }

    /// Takes the permit out of use (the model's calls in flight shrink by one) rather than
    /// giving it back; returns whether there was one. [`Parking::resume`] takes another.
    pub fn forget_permit(&mut self) -> bool {
        self.permit
            .take()
            .map(OwnedSemaphorePermit::forget)
            .is_some()
    }

    /// Gives the permit back for good: the graded call is answered and grading needs none.
    pub fn release_permit(&mut self) {
        self.permit = None;
        self.permits = None;
    }
}

impl Parking for Ticket {
    fn park(&mut self) {
        self.permit = None;
        self.slot = None;
    }

    fn resume(&mut self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            if let (None, Some(slots)) = (&self.slot, &self.slots) {
                self.slot = Arc::clone(slots).acquire_owned().await.ok();
            }
            if let (None, Some(permits)) = (&self.permit, &self.permits) {
                self.permit = Arc::clone(permits).acquire_owned().await.ok();
            }
            true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_parked_call_lets_another_go_and_takes_its_place_again() {
        let slots = Arc::new(Semaphore::new(1));
        let permits = Arc::new(Semaphore::new(1));
        let slot = Arc::clone(&slots).acquire_owned().await.ok();
        let permit = Arc::clone(&permits).acquire_owned().await.ok();
        let mut ticket = Ticket::held(&slots, slot, Some(&permits), permit);
        assert_eq!(
            (slots.available_permits(), permits.available_permits()),
            (0, 0)
        );

        ticket.park();
        assert_eq!(
            (slots.available_permits(), permits.available_permits()),
            (1, 1)
        );
        // Another call takes both while this one waits...
        let other = (
            Arc::clone(&slots).acquire_owned().await,
            Arc::clone(&permits).acquire_owned().await,
        );
        // ...and this one gets them back once that one is done.
        let resumed = tokio::spawn(async move {
            ticket.resume().await;
            ticket
        });
        drop(other);
        let mut ticket = resumed.await.expect("resumed");
        assert_eq!(
            (slots.available_permits(), permits.available_permits()),
            (0, 0)
        );

        ticket.release_permit();
        assert_eq!(permits.available_permits(), 1);
        ticket.park();
        ticket.resume().await;
        assert_eq!(
            permits.available_permits(),
            1,
            "a released permit is not taken again"
        );
        assert_eq!(slots.available_permits(), 0);
    }
}
